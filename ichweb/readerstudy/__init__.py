"""Reader studies: blinded case reads, localisation task, prediction-basis questionnaires."""
