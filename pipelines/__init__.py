"""newsbeam pipelines: wiring of the stages in ``transforms`` into runnable jobs."""
