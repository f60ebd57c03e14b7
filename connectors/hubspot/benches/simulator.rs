//! Throughput of the HubSpot simulator.

fn main() {}
