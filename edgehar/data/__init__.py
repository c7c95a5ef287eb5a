"""The data layer: UCI HAR windows, raw recordings, where data lives and how to get it."""
