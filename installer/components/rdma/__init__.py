"""rdma component."""
