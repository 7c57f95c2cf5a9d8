/**
 * Mocha reporter for CI: the spec reporter on the console (the job log shows progress and
 * failures) plus mocha's own xunit reporter writing JUnit XML for GitLab's test report
 * (`artifacts:reports:junit`). Mocha takes one --reporter; this runs both on the same runner.
 *
 *   mocha --reporter ./ci/mocha-reporter.js --reporter-option output=reports/junit.xml
 *
 * Mocha loads reporters with require(); Node >= 20.19 can require() this ES module, and mocha
 * takes its default export.
 */
import mocha from 'mocha';

const { Spec, XUnit } = mocha.reporters;

export default class SpecAndJUnit extends Spec {
  constructor(runner, options = {}) {
    super(runner, options);
    const reporterOptions = { output: 'reports/junit.xml', ...options.reporterOptions };
    this.junit = new XUnit(runner, { ...options, reporterOptions });
  }

  /** Mocha calls done() on the reporter it created before it exits: let xunit close its file first. */
  done(failures, fn) {
    this.junit.done(failures, fn);
  }
}
