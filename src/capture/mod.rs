pub mod compressed;
pub mod file;
pub mod live;
