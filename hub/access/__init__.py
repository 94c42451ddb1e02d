"""Access control for consuming systems: subscriptions and grants, API keys, the audit log
and the HTTP data API."""
