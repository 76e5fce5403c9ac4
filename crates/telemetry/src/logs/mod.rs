//! JSON log lines with the seed's fields and the current trace, span and request ids, written
//! to stdout off the request's thread.

mod context;
mod json;
mod line;
mod pretty;
mod rotation;
mod writer;

pub(crate) use json::JsonLogLayer;
pub(crate) use pretty::WithContext;
pub(crate) use rotation::redirect_std_streams;
pub(crate) use writer::{LogWriter, LogWriterGuard};

#[cfg(test)]
mod tests;
