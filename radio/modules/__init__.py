"""One driver per radio module family."""
