"""gpu_sharing component: GPUs shared by time-slicing or by HAMi's memory and core slices."""
