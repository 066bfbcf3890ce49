//! Integration tests: the real central over HTTP, one fresh database each.

mod helpers;
mod observability;

mod adjust;
mod admin;
mod auth;
mod batch;
mod concurrency;
mod durability;
mod errors;
mod reads;
mod replication;
mod web;
