//! Chapter 9's scaffold: pulling images with the registry HTTP API (the
//! Docker Hub protocol, OCI distribution spec) into a content-addressed store.

pub mod container;
pub mod digest;
pub mod image_ref;
pub mod layer;
pub mod manifest;
pub mod mount_point_layer;
pub mod platform;
pub mod pull;
pub mod registry;
pub mod store;
