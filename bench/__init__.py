"""Push ingress benchmark: throughput and latency of iGot in both modes against a bare aiohttp baseline."""
