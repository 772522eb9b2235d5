"""What outlives a capture: the stored PNG, its record and thumbnail, the stage timeline, the
breaker and idempotency items, the result events."""
