{{/* The month (YYYYMM, in the server's time zone, as the partition keys
compute it) of the instant @at_ms. */}}
SELECT toUInt32(toYYYYMM(toDateTime(intDiv(@at_ms, 1000))))
