// Package cronjob runs batch/v1 CronJobs: at each tick of a CronJob's
// schedule (standard five-field cron, @-descriptors, @every, in the
// CronJob's time zone) it creates a Job from the job template, named
// <cronjob>-<scheduled minute since the epoch> as upstream does so that a
// tick never yields two Jobs, honours concurrencyPolicy, suspend and
// startingDeadlineSeconds, keeps status.active, lastScheduleTime and
// lastSuccessfulTime, and deletes finished Jobs beyond the history limits.
//
// No cron library is available to corral, so schedule.go holds a small
// parser and next-time computation of its own.
package cronjob
