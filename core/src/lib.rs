//! mini-docker's scaffold: everything but the chapter steps the learner writes.
//!
//! The binary (`src/main.rs`) hands `cli::main` the steps — each chapter from
//! `exercises/` or `solutions/` — and the runtime calls them through
//! `workshop::Steps`. No module here calls learner code any other way:
//! cgroups/, net/ and image/ are plain libraries; the orchestration
//! (`runtime::launch`) calls the steps in lesson order.

pub mod workshop;

pub mod cgroups;
pub mod checks;
pub mod cli;
pub mod daemon;
pub mod devices;
pub mod doctor;
pub mod image;
pub mod lifecycle;
pub mod net;
pub mod oci;
pub mod rootfs;
pub mod runtime;
pub mod security;
pub mod selection;
pub mod sys;
pub mod userns;

/// Chapter 13 parses `config.json` with the maintained oci-spec crate; the
/// exercises name its types through here.
pub use oci_spec;
