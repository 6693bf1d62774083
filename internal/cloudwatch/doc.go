// Package cloudwatch is the project's one model of how CloudWatch evaluates
// a metric alarm on Application Load Balancer metrics, rule by rule as the
// CloudWatch User Guide defines it (each rule cites its page):
//
//   - Compile takes the alarm as the SDK describes it (a
//     cloudwatch.PutMetricAlarmInput with MetricDataQuery metrics and metric
//     math) and checks it the way PutMetricAlarm would.
//   - A Sample is one target group's traffic in one minute (requests, the
//     targets' 5xx, connection errors, response time, unhealthy targets);
//     the model decides which metrics the load balancer publishes for it.
//   - A Reading is one interpretation of what the pages leave open: how late
//     each minute's datapoints become visible to the alarm (at once, the
//     newest minute missing, two minutes late, requests and counts at
//     different delays), whether metric math treats a gap in a series as 0,
//     and how far back the evaluation range reaches. Readings lists them
//     all; a caller proves a property under every one.
//   - Alarm.Evaluate(samples, t, reading, prev) is the state CloudWatch
//     sets when it evaluates the alarm at the end of minute t, with
//     samples[m] the group's traffic in minute m (minute 0 is the first of
//     the slice; minutes past its end have no traffic) and prev the state
//     before (used only by ignore and missing). It allocates nothing and
//     reads only samples[:t+1]. Alarm.FirstAlarm runs it minute by minute;
//     Alarm.Datapoint is one period's value, for tests and traces.
//
// Time is in whole minutes: minute m is [m, m+1) after the caller's origin,
// and the alarm is evaluated once a minute, at the end of each minute.
package cloudwatch
