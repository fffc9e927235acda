"""The directory: customers, accounts, IVR access numbers, their passwords and CLI."""
