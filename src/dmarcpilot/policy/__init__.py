"""Policy: what people decided (approvals registry) and, later, what it compiles to."""
