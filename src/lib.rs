//! synack: passive TCP connection analysis of captures and live interfaces.
//!
//! Data flows one way, one folder per stage (docs/design.md draws the graph):
//! [`capture`] → [`decode`] → [`flow`] → [`tcp`] (and [`app`]) → [`analysis`] →
//! [`model`] → [`output`] and [`check`]. [`store`] holds the compact byte form that
//! dormant connections and finished records are kept in.

pub mod analysis;
pub mod app;
pub mod capture;
pub mod check;
pub mod decode;
pub mod flow;
pub mod model;
pub mod output;
pub mod store;
pub mod tcp;
