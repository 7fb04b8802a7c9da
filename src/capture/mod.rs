pub mod compressed;
pub mod file;
pub mod live;
pub mod privileges;
pub mod ring;
pub mod rotate;
