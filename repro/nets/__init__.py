"""Score networks (RefineNet of NCSN, NCSN++ of score_sde) with the official parameter layouts."""
