"""Admin-only endpoints: users, and (with their features) reports and A/B settings."""
