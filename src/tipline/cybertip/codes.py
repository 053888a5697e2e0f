"""Response codes of the CyberTipline ESP API (``<responseCode>`` in ``reportResponse``).

NCMEC's documentation (``https://report.cybertip.org/ispws/documentation/index.html#report-response``)
is the authority; it says 0 is success and any other number is an error code it defines. We could not
read that page from here: the numbers below are the list that open-source ESP clients copy from it
(e.g. a TypeScript ``ResponseCode`` enum citing that anchor, and a design note quoting 0, 1000, 2000,
3000, 4100, 5001, 5102 as "verified against NCMEC's public ISPWS documentation"). That list calls itself
non-exhaustive. tipline defines no codes of its own; what each code is used for here is in
:data:`HTTP_STATUS` and in ``tipline.cybertip.api``.

HTTP status: NCMEC's service signals failure in the body. tipline answers the same body with a
matching 4xx/5xx status as well (clients that decode the body first, like NCMEC's, see the same thing).
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    SERVER_ERROR = 1000
    SAVE_FAILED = 1100
    UPLOAD_FAILED = 1110
    FILE_UPLOAD_FAILED = 1111
    RESOURCE_NOT_FOUND = 1210
    UPDATE_FAILED = 1300
    AUTHENTICATION_REQUIRED = 2000
    NOT_AUTHORIZED = 3000
    NOT_AUTHORIZED_FOR_SUBMISSIONS = 3100
    NOT_AUTHORIZED_FOR_UPDATES = 3300
    INVALID_REQUEST = 4000
    VALIDATION_FAILED = 4100
    MALFORMED_XML = 4110
    MALFORMED_FILE = 4200
    REPORT_DOES_NOT_EXIST = 5001
    FILE_DOES_NOT_EXIST = 5002
    REPORT_ALREADY_RETRACTED = 5101
    REPORT_ALREADY_FINISHED = 5102


DESCRIPTION: dict[int, str] = {
    Code.SUCCESS: "Success",
    Code.SERVER_ERROR: "Server error",
    Code.SAVE_FAILED: "Save failed",
    Code.UPLOAD_FAILED: "Upload failed",
    Code.FILE_UPLOAD_FAILED: "File upload failed",
    Code.RESOURCE_NOT_FOUND: "Resource not found",
    Code.UPDATE_FAILED: "Update failed",
    Code.AUTHENTICATION_REQUIRED: "Authentication required",
    Code.NOT_AUTHORIZED: "User is not authorized to perform this action",
    Code.NOT_AUTHORIZED_FOR_SUBMISSIONS: "User does not have authorization to make submissions",
    Code.NOT_AUTHORIZED_FOR_UPDATES: "User does not have authorization to make updates",
    Code.INVALID_REQUEST: "Invalid request",
    Code.VALIDATION_FAILED: "Validation failed",
    Code.MALFORMED_XML: "Malformed XML submittal",
    Code.MALFORMED_FILE: "Malformed file submittal",
    Code.REPORT_DOES_NOT_EXIST: "Report does not exist",
    Code.FILE_DOES_NOT_EXIST: "File does not exist",
    Code.REPORT_ALREADY_RETRACTED: "Report already retracted",
    Code.REPORT_ALREADY_FINISHED: "Report already finished",
}

# The HTTP status tipline sends with each code.
HTTP_STATUS: dict[int, int] = {
    Code.SUCCESS: 200,
    Code.SERVER_ERROR: 500,
    Code.SAVE_FAILED: 500,
    Code.UPLOAD_FAILED: 500,
    Code.FILE_UPLOAD_FAILED: 500,
    Code.RESOURCE_NOT_FOUND: 404,
    Code.UPDATE_FAILED: 500,
    Code.AUTHENTICATION_REQUIRED: 401,
    Code.NOT_AUTHORIZED: 403,
    Code.NOT_AUTHORIZED_FOR_SUBMISSIONS: 403,
    Code.NOT_AUTHORIZED_FOR_UPDATES: 403,
    Code.INVALID_REQUEST: 400,
    Code.VALIDATION_FAILED: 400,
    Code.MALFORMED_XML: 400,
    Code.MALFORMED_FILE: 400,
    Code.REPORT_DOES_NOT_EXIST: 404,
    Code.FILE_DOES_NOT_EXIST: 404,
    Code.REPORT_ALREADY_RETRACTED: 409,
    Code.REPORT_ALREADY_FINISHED: 409,
}


def describe(code: int) -> str:
    return DESCRIPTION.get(code, "Error")
