//! Answering audit questions with SQL: the embedded DataFusion [`session`], the bundled
//! [`catalogue`] of reports in `queries/`, and the result [`output`] formats.

pub mod catalogue;
pub mod output;
pub mod session;
