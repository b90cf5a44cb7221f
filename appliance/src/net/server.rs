//! The HTTP server: routes, limits and the listener.
