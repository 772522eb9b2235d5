"""Running the function off Lambda: a local AWS emulator and a Lambda context."""
