"""Who is asking: principals from JWTs minted by the host application."""
