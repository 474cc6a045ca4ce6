"""Analysis over the store: compliance figures now; services, classes and readiness later."""
