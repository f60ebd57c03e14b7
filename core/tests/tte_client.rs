//! The 10to8 client against the simulator over loopback.
