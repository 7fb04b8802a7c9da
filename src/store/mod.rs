pub mod app;
pub mod codec;
pub mod dormant;
pub mod record;
pub mod tcp;
