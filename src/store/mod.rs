pub mod app;
pub mod codec;
pub mod record;
pub mod tcp;
