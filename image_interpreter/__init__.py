"""image-interpreter: conversational editing of structured image priors."""
