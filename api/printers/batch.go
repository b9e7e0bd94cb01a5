package printers

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

var jobPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "Status of the job."),
		column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		column("Duration", "string", "Time required to complete the job."),
		ageColumn,
		containersColumn,
		imagesColumn,
		wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	},
	row: rowOf(func(j *batchv1.Job, age string) []interface{} {
		names, images := containerCells(j.Spec.Template.Spec.Containers)
		return []interface{}{j.Name, jobStatus(j), jobCompletions(j), jobDuration(j), age,
			names, images, metav1.FormatLabelSelector(j.Spec.Selector)}
	}),
}

// jobStatus is the STATUS cell: the first of these that applies.
func jobStatus(j *batchv1.Job) string {
	switch {
	case jobCondition(j, batchv1.JobComplete):
		return "Complete"
	case jobCondition(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(j, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case jobCondition(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// jobCompletions is succeeded/wanted; a job without completions wants one
// success, however many pods run in parallel.
func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

// jobDuration is how long the job ran, or has been running.
func jobDuration(j *batchv1.Job) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(time.Since(j.Status.StartTime.Time))
	}
	return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
}

var cronJobSpecDoc = batchv1.CronJobSpec{}.SwaggerDoc()

var cronJobPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Schedule", "string", cronJobSpecDoc["schedule"]),
		column("Timezone", "string", cronJobSpecDoc["timeZone"]),
		column("Suspend", "boolean", cronJobSpecDoc["suspend"]),
		column("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"]),
		column("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
		ageColumn,
		containersColumn,
		imagesColumn,
		wide("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	},
	row: rowOf(func(cj *batchv1.CronJob, age string) []interface{} {
		last := "<none>"
		if cj.Status.LastScheduleTime != nil {
			last = since(*cj.Status.LastScheduleTime)
		}
		tz := "<none>"
		if cj.Spec.TimeZone != nil {
			tz = *cj.Spec.TimeZone
		}
		tmpl := cj.Spec.JobTemplate.Spec
		names, images := containerCells(tmpl.Template.Spec.Containers)
		return []interface{}{cj.Name, cj.Spec.Schedule, tz, boolPtr(cj.Spec.Suspend), int64(len(cj.Status.Active)), last, age,
			names, images, metav1.FormatLabelSelector(tmpl.Selector)}
	}),
}
