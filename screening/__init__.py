"""Eligibility pre-screening: questionnaire and rules as data, a pure engine, and reports.

Never imports ``telegram``; the bot's handlers build on :class:`screening.engine.Engine`.
"""
