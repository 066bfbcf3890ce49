//! Integration tests: the real central over HTTP, one fresh database each.

mod helpers;
mod observability;

mod adjust;
mod admin;
mod auth;
mod batch;
mod bounds;
mod channels;
mod concurrency;
mod credentials;
mod declared;
mod devices;
mod durability;
mod errors;
mod holds;
mod migrations;
mod reads;
mod replication;
mod web;
