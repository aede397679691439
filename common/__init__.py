"""What every service shares: the message contract, the configuration surface, JSON logs."""
