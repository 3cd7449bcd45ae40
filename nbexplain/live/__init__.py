"""Job runner for the live widget: one worker thread, latest-wins, throttled streaming."""

from .runner import Cancelled, JobContext, JobRunner

__all__ = ["Cancelled", "JobContext", "JobRunner"]
