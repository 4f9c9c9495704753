"""The measuring engine every axis shares: specs and samples, the timing loop, floors, devices, parity."""
