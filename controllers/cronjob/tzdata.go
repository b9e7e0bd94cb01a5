package cronjob

// spec.timeZone names an IANA zone. Machines without /usr/share/zoneinfo
// (minimal images, distroless) would reject every such CronJob, so the
// binary carries Go's copy of the database (about 450 KB); the system's
// files still win where they exist.
import _ "time/tzdata"
