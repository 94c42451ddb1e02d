"""The commands of ``lgsp``, one module per group; ``hub.cli`` assembles them."""
