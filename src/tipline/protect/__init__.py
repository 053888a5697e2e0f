"""Protection of sensitive data: sealing (authenticated encryption) of what reporters and analysts must
never see leak. The protection issue extends this with envelope keys, rotation and the audit chain."""
