//! xnai: one pool for many AI coding-agent accounts.
//!
//! The library holds all behaviour; the `xnai` binary is a thin CLI over it ([`cli`]).
//! Data flows one way: [`config`] → accounts → [`check`] (and later instances, usage, quota,
//! dispatch). Provider-specific knowledge lives only in [`provider`] and [`token`].

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod audit;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod envfile;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod instance;
pub mod onboard;
pub mod output;
pub mod paths;
pub mod provider;
pub mod quota;
pub mod schedule;
pub mod secret;
pub mod session;
pub mod shell;
pub mod store;
pub mod suggest;
pub mod token;
pub mod usage;
