pub mod file;
pub mod live;
