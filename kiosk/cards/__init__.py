"""Card applications and the crypto they (and host messages) use."""
