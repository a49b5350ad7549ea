"""Telegram edge of the Kota Serang Sister City assistant: the only package importing telegram."""
