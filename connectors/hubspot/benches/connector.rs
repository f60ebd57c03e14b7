//! Throughput of the HubSpot connector against the simulator (written in a later commit).

fn main() {}
