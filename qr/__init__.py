"""qr package."""
