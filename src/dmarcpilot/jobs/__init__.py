"""Jobs over the store (enrichment now; refreshes and alerts later): each safe to run twice or concurrently."""
