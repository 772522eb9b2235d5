"""Preview screenshot service: judged, content-addressed preview screenshots on AWS Lambda."""
