"""CDK app of the preview screenshot service: one stack, one construct per capability."""
